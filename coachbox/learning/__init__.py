"""Learning rules as pure functions: grading, streaks, badges, progress and lesson-time parsing."""
