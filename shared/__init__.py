"""nianbao's shared core: forms, rules, registry, roll-ups, contracts, settings."""
