"""R4 Subscriptions (rest-hook) on Task, Encounter, Appointment and Communication.

`matching.py` turns written versions into outbox rows in the writing transaction;
`rest_hook.py` delivers them; `wiring.py` registers both and the `$replay` operation;
`spec.py` says what a Subscription may ask for (payload, headers, the signature extension).
https://hl7.org/fhir/R4/subscription.html
"""

from hub.subscriptions.wiring import register_subscriptions

__all__ = ["register_subscriptions"]
