-- The image of the desired spec, so that listing clusters reads no spec blobs.
ALTER TABLE clusters ADD COLUMN image TEXT NOT NULL DEFAULT '';
UPDATE clusters SET image =
	CASE WHEN coalesce(json_extract(desired, '$.spec.flinkImageRegistry'), '') = '' THEN ''
	     ELSE json_extract(desired, '$.spec.flinkImageRegistry') || '/' END
	|| coalesce(json_extract(desired, '$.spec.flinkImageRepository'), '') || ':'
	|| coalesce(json_extract(desired, '$.spec.flinkImageTag'), '');
