"""Development and operator tooling, never imported by the runtime (the API, workers and beat).

`make up` (`devstack`, with its embedded servers in `embedded` and the supervisor in `processes`),
`demo-data`, and the one-off broker commands `rabbitmq-policies` and `rabbitmq-device-user`, all run
through `python -m taskplatform <command>`. Tests and benchmarks use the supervisor and `wait_until`.
"""
