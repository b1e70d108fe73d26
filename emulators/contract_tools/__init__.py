"""Tools around the contracts: `emulators verify` (active drift checks) and `emulators proxy`
(passive drift checks of live traffic)."""
