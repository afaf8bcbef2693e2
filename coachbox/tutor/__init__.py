"""The AI tutor: answers learners' questions from the course content, with guardrails and a no-AI fallback."""
