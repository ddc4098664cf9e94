"""Queue selection plugins: choose the queue of a contact that names none."""
