"""Use cases of human review: tasks, verdicts, accounts, case views and reports."""
