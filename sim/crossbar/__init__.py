"""The memristor crossbar model: a behavioural analog synaptic input (SPEC §3.7; docs/crossbar.md)."""
