-- ARGV: 2 index (a sorted set by expiry), 3 record key prefix, 4 now. Removes the entries
-- expired at `now` and their records; returns how many.
return drop_expired(ARGV[2], ARGV[3], ARGV[4])
