"""text-classifier: routes a customer-service message to an intent."""
