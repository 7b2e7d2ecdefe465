-- Facts about this database: its identity (the owner label of everything its flinkd creates).
CREATE TABLE meta (
	key   TEXT NOT NULL PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID;
