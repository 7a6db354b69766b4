"""Reliability and security tests (RELIABILITY.md §8): faults, attacks and bad input; each prints its figures."""
