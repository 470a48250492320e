"""The four services of nianbao: intake, validator, aggregator, publisher."""
