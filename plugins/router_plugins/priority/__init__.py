"""Priority plugins: named terms added to a contact's priority when it enters a queue."""
