-- Reference data a fresh install needs (idempotent: rows are added only when missing).

INSERT INTO object_type (id, name) SELECT 1, 'seed'
 WHERE NOT EXISTS (SELECT 1 FROM object_type WHERE id = 1);

INSERT INTO task (id, name)
SELECT t.id, t.name FROM (VALUES (1, 'Object Detection'), (2, 'Classification'), (3, 'Segmentation')) AS t(id, name)
 WHERE NOT EXISTS (SELECT 1 FROM task WHERE task.id = t.id);
SELECT setval(pg_get_serial_sequence('task', 'id'), (SELECT max(id) FROM task));
SELECT setval(pg_get_serial_sequence('object_type', 'id'), (SELECT max(id) FROM object_type));

-- The seed catalogue (shared/spec/seed-catalogue.md) plus the answer for seeds no model can name yet.
INSERT INTO seed (name)
SELECT c.name FROM (VALUES
    ('Brassica napus'),
    ('Brassica juncea'),
    ('Cirsium arvense'),
    ('Cirsium vulgare'),
    ('Carduus nutans'),
    ('Bromus secalinus'),
    ('Bromus hordeaceus'),
    ('Bromus japonicus'),
    ('Lolium temulentum'),
    ('Solanum carolinense'),
    ('Solanum nigrum'),
    ('Solanum rostratum'),
    ('Ambrosia artemisiifolia'),
    ('Ambrosia trifida'),
    ('Ambrosia psilostachya'),
    ('Iva axillaris'),
    ('Cyclachaena xanthiifolia'),
    ('Tripleurospermum inodorum'),
    ('Cuscuta gronovii'),
    ('Cuscuta spp'),
    ('Tripleurospermum maritimum'),
    ('Solanum elaeagnifolium'),
    ('Centaurea stoebe'),
    ('Centaurea diffusa'),
    ('Centaurea melitensis'),
    ('Centaurea calcitrapa'),
    ('Centaurea solstitialis'),
    ('Centaurea solstitialis D'),
    ('Unknown seed')
) AS c(name)
 WHERE NOT EXISTS (SELECT 1 FROM seed WHERE seed.name = c.name);
