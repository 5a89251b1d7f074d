"""parapheur-agent: the official's local signing agent, between the browser and her card.

A small HTTP server on 127.0.0.1 (pure Python plus python-pkcs11) with a documented JSON API
(`parapheur.agent.server`): its version, the certificates on the configured PKCS#11 modules, and
signing a batch of hashes the paired parapheur server prepared. The PIN is asked by the agent
itself, once per batch, and never leaves it; the official sees what she signs (how many
documents, their titles, the server's name) before the card is used.
"""

__version__ = "1.0.0"
#: Version of the JSON API (the server sends it in every signing request).
API_VERSION = 1
