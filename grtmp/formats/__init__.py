"""Construct declarations of every binary layout grtmp reads or writes (the source of truth)."""
