"""The coach's clock: daily lessons, follow-up quizzes, reminders, review, streaks, summaries, roll-ups, broadcasts."""
