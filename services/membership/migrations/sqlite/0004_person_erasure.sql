-- Erasure of a person (ErasePersonData): when their row was anonymised.
ALTER TABLE people ADD COLUMN erased_at TEXT;
