"""Code every client of the engine shares (the API, the pages, the demo, the simulator, the
starter): starting a dossier, updating it with retries across continue-as-new, starting the
outside systems' relays. Above `workflows` and `store` in the import graph
(docs/architecture.md), below the clients themselves."""
