-- AlterTable
ALTER TABLE "rooms" ADD COLUMN     "creator" TEXT,
ADD COLUMN     "is_public" BOOLEAN NOT NULL DEFAULT false;

-- CreateTable
CREATE TABLE "users" (
    "user_id" TEXT NOT NULL,
    "displayname" TEXT,
    "avatar_url" TEXT,
    "created_ts" BIGINT NOT NULL,

    CONSTRAINT "users_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "events" (
    "stream_ordering" BIGSERIAL NOT NULL,
    "event_id" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "state_key" TEXT,
    "sender" TEXT NOT NULL,
    "depth" BIGINT NOT NULL,
    "origin_server_ts" BIGINT NOT NULL,
    "received_ts" BIGINT NOT NULL,
    "json" TEXT NOT NULL,
    "outlier" BOOLEAN NOT NULL DEFAULT false,
    "rejected_reason" TEXT,
    "soft_failed" BOOLEAN NOT NULL DEFAULT false,
    "instance_name" TEXT NOT NULL DEFAULT 'main',

    CONSTRAINT "events_pkey" PRIMARY KEY ("stream_ordering")
);

-- CreateTable
CREATE TABLE "event_edges" (
    "event_id" TEXT NOT NULL,
    "prev_event_id" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,

    CONSTRAINT "event_edges_pkey" PRIMARY KEY ("event_id","prev_event_id")
);

-- CreateTable
CREATE TABLE "event_auth" (
    "event_id" TEXT NOT NULL,
    "auth_id" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,

    CONSTRAINT "event_auth_pkey" PRIMARY KEY ("event_id","auth_id")
);

-- CreateTable
CREATE TABLE "event_forward_extremities" (
    "room_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,

    CONSTRAINT "event_forward_extremities_pkey" PRIMARY KEY ("room_id","event_id")
);

-- CreateTable
CREATE TABLE "state_groups" (
    "id" BIGSERIAL NOT NULL,
    "room_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "prev_state_group" BIGINT,
    "delta_depth" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "state_groups_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "state_groups_state" (
    "state_group" BIGINT NOT NULL,
    "type" TEXT NOT NULL,
    "state_key" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,

    CONSTRAINT "state_groups_state_pkey" PRIMARY KEY ("state_group","type","state_key")
);

-- CreateTable
CREATE TABLE "event_to_state_groups" (
    "event_id" TEXT NOT NULL,
    "state_group" BIGINT NOT NULL,

    CONSTRAINT "event_to_state_groups_pkey" PRIMARY KEY ("event_id")
);

-- CreateTable
CREATE TABLE "current_state_events" (
    "room_id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "state_key" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "membership" TEXT,

    CONSTRAINT "current_state_events_pkey" PRIMARY KEY ("room_id","type","state_key")
);

-- CreateTable
CREATE TABLE "destination_rooms" (
    "destination" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,
    "stream_ordering" BIGINT NOT NULL,

    CONSTRAINT "destination_rooms_pkey" PRIMARY KEY ("destination","room_id")
);

-- CreateTable
CREATE TABLE "sent_transactions" (
    "id" BIGSERIAL NOT NULL,
    "destination" TEXT NOT NULL,
    "transaction_id" TEXT NOT NULL,
    "pdu_count" INTEGER NOT NULL,
    "edu_count" INTEGER NOT NULL,
    "started_ts" BIGINT NOT NULL,
    "duration_ms" INTEGER NOT NULL,
    "outcome" TEXT NOT NULL,
    "error" TEXT,
    "instance_name" TEXT NOT NULL,

    CONSTRAINT "sent_transactions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "device_lists_outbound_pokes" (
    "stream_id" BIGSERIAL NOT NULL,
    "destination" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "device_id" TEXT NOT NULL,
    "sent" BOOLEAN NOT NULL DEFAULT false,
    "content" TEXT NOT NULL,
    "ts" BIGINT NOT NULL,

    CONSTRAINT "device_lists_outbound_pokes_pkey" PRIMARY KEY ("stream_id")
);

-- CreateTable
CREATE TABLE "device_federation_outbox" (
    "stream_id" BIGSERIAL NOT NULL,
    "destination" TEXT NOT NULL,
    "message_id" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "queued_ts" BIGINT NOT NULL,

    CONSTRAINT "device_federation_outbox_pkey" PRIMARY KEY ("stream_id")
);

-- CreateTable
CREATE TABLE "stream_positions" (
    "stream_name" TEXT NOT NULL,
    "instance_name" TEXT NOT NULL,
    "stream_id" BIGINT NOT NULL,

    CONSTRAINT "stream_positions_pkey" PRIMARY KEY ("stream_name","instance_name")
);

-- CreateIndex
CREATE UNIQUE INDEX "events_event_id_key" ON "events"("event_id");

-- CreateIndex
CREATE INDEX "events_room_id_stream_ordering_idx" ON "events"("room_id", "stream_ordering");

-- CreateIndex
CREATE INDEX "events_room_id_depth_idx" ON "events"("room_id", "depth");

-- CreateIndex
CREATE INDEX "event_edges_prev_event_id_idx" ON "event_edges"("prev_event_id");

-- CreateIndex
CREATE INDEX "state_groups_room_id_idx" ON "state_groups"("room_id");

-- CreateIndex
CREATE INDEX "event_to_state_groups_state_group_idx" ON "event_to_state_groups"("state_group");

-- CreateIndex
CREATE INDEX "current_state_events_room_id_membership_idx" ON "current_state_events"("room_id", "membership");

-- CreateIndex
CREATE INDEX "destination_rooms_destination_stream_ordering_idx" ON "destination_rooms"("destination", "stream_ordering");

-- CreateIndex
CREATE INDEX "sent_transactions_destination_id_idx" ON "sent_transactions"("destination", "id");

-- CreateIndex
CREATE INDEX "device_lists_outbound_pokes_destination_sent_stream_id_idx" ON "device_lists_outbound_pokes"("destination", "sent", "stream_id");

-- CreateIndex
CREATE INDEX "device_federation_outbox_destination_stream_id_idx" ON "device_federation_outbox"("destination", "stream_id");
