"""Simulations on Temporal's time-skipping test server, with the real workflows and activities.

- `sim.scenario`: the scenario file (YAML or JSON) as pydantic models, with errors that name the
  file, the place in the document and what is wrong.
- `sim.events`: turns a scenario into the dossiers to submit, and decides (from the scenario
  and the seed) what officers, applicants, the payer and the post do and when.
- `sim.driver`: one small driver workflow per dossier, registered only on the simulation's
  worker: it sleeps durable timers until each planned act and performs it through an
  activity (an officer's ``decide`` update, a payment signal, a supplement).
- `sim.runner`: the time-skipping server, a throwaway registry, the engine's workers and the
  drivers; collects every dossier's end, its form 05 ledger, its letters and the report.
- `sim.output`: the human-readable text and the ``--json`` document.
- `sim.profile`: district profiles (``sim/profiles/*.yaml``), their report and chart.

See docs/simulation.md.
"""
