-- Series cells are kept for days only: the subject step reads a week's or a month's series cells as
-- their days' cells (rollups.ts). Week and month series cells written before are never read again.
ALTER TABLE {db}.series_cells DELETE WHERE grain != 'day';
