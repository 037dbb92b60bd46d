"""The demo company (manage.py seed_demo): its story, its leads' arrivals, the seeder."""
