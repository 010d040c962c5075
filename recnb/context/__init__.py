"""Context-aware recommendation, cold start, repeat purchases and rolling-origin updates (stage 06).

Modules: :mod:`~recnb.context.log` (the event log with fixed vocabularies, requests and their
request-time context), :mod:`~recnb.context.paradigms` (context-free baseline, pre-filtering,
post-filtering, contextual LightFM), :mod:`~recnb.context.compare` (per-request metrics, per-context
breakdowns, paired uplifts with customer-level bootstrap CIs).
"""
