"""Booking: the hub's own Slots and Appointments, and regions' booking systems over RIV-TA crm:scheduling."""
