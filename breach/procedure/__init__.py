"""The procedure layer: each step of the data-breach procedure as one typed library call.

    settings = ExportAuditSettings(case="INC-1", dsn=..., table="public.audit_log", ...)
    result = export_audit(settings)          # an ExportAuditResult; BreachError on bad input

Every step takes a pydantic settings model (validated, `extra="forbid"`, so a playbook's YAML
or a test builds it the same way the CLI does) and returns a pydantic result model, or raises a
`core.errors.BreachError` whose message speaks of the domain (the CLI adds flag hints).
Progress callbacks, where a step has them, are keyword arguments, not settings.

The CLI (breach/commands), the playbook runner, drills and tests all call these functions; none
of them imports breach.commands. One module per part of the procedure:

    incident   open, show, classify, set-aware-at, set severity/status, close
    keys       generate signing keys and age identities
    evidence   export-audit, snapshot, scope
    contain    one containment action (plan, apply, read back, receipt)
    notify     due, draft, send, decide, post-mortem
    bundle     seal, verify, decrypt, custody record/show
"""
