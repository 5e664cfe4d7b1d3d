"""Passages -> answer: LLM backends, prompting, citation parsing, claim verification,
graph-constraint checks, abstention and audit records (DESIGN §7).

`generation` imports `kb` and `retrieval`, never the CLI. Heavy libraries (torch,
transformers) load only when a local backend first generates.
"""
