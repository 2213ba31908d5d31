"""The coordinator's desk: the meeting brief (PDF) and the subject-access export (GDPR art. 15)."""
