-- AlterTable
ALTER TABLE "destinations" ADD COLUMN     "newest_room_stream_ordering" BIGINT;

-- Backfill: from here on DestinationRoomStore.storeEntries keeps it
UPDATE "destinations" d SET "newest_room_stream_ordering" = r.newest
FROM (SELECT "destination", MAX("stream_ordering") AS newest FROM "destination_rooms" GROUP BY "destination") r
WHERE r."destination" = d."destination";
