"""The gym: students, check-ins, daily attendance reports and churn scores."""
