"""Course certificates: eligibility, a PDF a learner can be proud of, delivery, verification and revocation."""
