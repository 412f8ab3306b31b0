"""SQL Server table of exchange rates (a SQLite file locally): the Open Exchange Rates sink."""
