"""Paying for premium courses: plans, access, M-PESA (Daraja), Stripe subscriptions, admin page."""
