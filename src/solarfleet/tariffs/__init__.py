"""What a site pays and earns: energy contracts, the organisation's tariff settings, prices per step."""
