-- AlterTable
ALTER TABLE "events" ADD COLUMN     "membership" TEXT,
ADD COLUMN     "send_on_behalf_of" TEXT;

-- AlterTable
ALTER TABLE "event_to_state_groups" ADD COLUMN     "replaces_state" TEXT;

-- CreateTable
CREATE TABLE "room_aliases" (
    "room_alias" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,
    "creator" TEXT NOT NULL,

    CONSTRAINT "room_aliases_pkey" PRIMARY KEY ("room_alias")
);

-- CreateIndex
CREATE INDEX "room_aliases_room_id_idx" ON "room_aliases"("room_id");
