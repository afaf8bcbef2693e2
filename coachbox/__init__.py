"""coachbox: a WhatsApp micro-learning coach for a small school or NGO, on one self-hosted box."""

__version__ = "0.1.0"
