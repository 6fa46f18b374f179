"""A guarded hub (the access tests' world) with the journal view operations wired in.

The journal view's tests need the same world as the booking tests, so they take the booking
package's fixtures rather than a copy of them.
"""

from tests.integration.booking.conftest import key_ring, soap_server, triage_catalog, world_hub

__all__ = ["key_ring", "soap_server", "triage_catalog", "world_hub"]
