-- PostgreSQL's relations lose their foreign key; SQLite's did in 0007.
SELECT 1;
