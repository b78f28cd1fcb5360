"""Drills: a playbook run as proof that it would work today, and how fast.

breach.procedure.drill runs one (against the sandbox for real, or dry against the systems as
they are); checks.py holds the checks legal and an auditor would make of what a sandbox run
left; reports.py writes the JUnit XML and Markdown a CI job keeps.
"""
