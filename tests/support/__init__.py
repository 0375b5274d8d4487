"""What every test layer shares: launching servers, polling, and the parts a test may need."""
