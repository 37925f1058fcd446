"""What hublint knows about PEFT, in one place, for rules and bot alike.

`keys` (how saved tensors are named, which carry vocabulary rows), `config` (adapter_config.json fields, the
`peft_type`), `methods` (every PEFT method: display name, family, saved tensor names), `tasks` (task types and the
heads they train), `ranks` (r, rank_pattern, the rank axis of each factor), `layers` (base-model modules an adapter
lands on), `ids` (what a Hub model id may look like). Pure: no network, no printing.
"""
