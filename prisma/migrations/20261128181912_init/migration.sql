-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "public";

-- CreateTable
CREATE TABLE "server_keys_json" (
    "server_name" TEXT NOT NULL,
    "key_id" TEXT NOT NULL,
    "verify_key" TEXT NOT NULL,
    "ts_valid_until_ms" BIGINT NOT NULL,
    "ts_added_ms" BIGINT NOT NULL,
    "from_server" TEXT NOT NULL,
    "key_json" TEXT NOT NULL,

    CONSTRAINT "server_keys_json_pkey" PRIMARY KEY ("server_name","key_id")
);

-- CreateTable
CREATE TABLE "destinations" (
    "destination" TEXT NOT NULL,
    "retry_last_ts" BIGINT,
    "retry_interval" BIGINT,
    "failure_ts" BIGINT,
    "last_successful_stream_ordering" BIGINT,

    CONSTRAINT "destinations_pkey" PRIMARY KEY ("destination")
);

-- CreateTable
CREATE TABLE "received_transactions" (
    "origin" TEXT NOT NULL,
    "transaction_id" TEXT NOT NULL,
    "response_code" INTEGER NOT NULL,
    "response_json" TEXT NOT NULL,
    "pdu_count" INTEGER NOT NULL,
    "edu_count" INTEGER NOT NULL,
    "ts" BIGINT NOT NULL,

    CONSTRAINT "received_transactions_pkey" PRIMARY KEY ("origin","transaction_id")
);

-- CreateTable
CREATE TABLE "rooms" (
    "room_id" TEXT NOT NULL,
    "room_version" TEXT NOT NULL,
    "created_ts" BIGINT NOT NULL,

    CONSTRAINT "rooms_pkey" PRIMARY KEY ("room_id")
);

-- CreateTable
CREATE TABLE "federation_inbound_events_staging" (
    "id" BIGSERIAL NOT NULL,
    "origin" TEXT NOT NULL,
    "room_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "received_ts" BIGINT NOT NULL,
    "event_json" TEXT NOT NULL,
    "redacted" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "federation_inbound_events_staging_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "inbound_edus" (
    "id" BIGSERIAL NOT NULL,
    "origin" TEXT NOT NULL,
    "transaction_id" TEXT NOT NULL,
    "edu_type" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "received_ts" BIGINT NOT NULL,

    CONSTRAINT "inbound_edus_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "presence" (
    "user_id" TEXT NOT NULL,
    "state" TEXT NOT NULL,
    "last_active_ago" BIGINT,
    "status_msg" TEXT,
    "currently_active" BOOLEAN NOT NULL DEFAULT false,
    "updated_ts" BIGINT NOT NULL,

    CONSTRAINT "presence_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "receipts" (
    "room_id" TEXT NOT NULL,
    "receipt_type" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "thread_id" TEXT NOT NULL DEFAULT '',
    "event_ids" TEXT NOT NULL,
    "data" TEXT NOT NULL,
    "updated_ts" BIGINT NOT NULL,

    CONSTRAINT "receipts_pkey" PRIMARY KEY ("room_id","receipt_type","user_id","thread_id")
);

-- CreateTable
CREATE TABLE "device_lists_remote_cache" (
    "user_id" TEXT NOT NULL,
    "device_id" TEXT NOT NULL,
    "content" TEXT NOT NULL,

    CONSTRAINT "device_lists_remote_cache_pkey" PRIMARY KEY ("user_id","device_id")
);

-- CreateTable
CREATE TABLE "device_lists_remote_extremeties" (
    "user_id" TEXT NOT NULL,
    "stream_id" BIGINT NOT NULL,
    "needs_resync" BOOLEAN NOT NULL DEFAULT false,

    CONSTRAINT "device_lists_remote_extremeties_pkey" PRIMARY KEY ("user_id")
);

-- CreateTable
CREATE TABLE "e2e_cross_signing_keys" (
    "user_id" TEXT NOT NULL,
    "keytype" TEXT NOT NULL,
    "keydata" TEXT NOT NULL,

    CONSTRAINT "e2e_cross_signing_keys_pkey" PRIMARY KEY ("user_id","keytype")
);

-- CreateTable
CREATE TABLE "device_inbox" (
    "stream_id" BIGSERIAL NOT NULL,
    "user_id" TEXT NOT NULL,
    "device_id" TEXT NOT NULL,
    "sender" TEXT NOT NULL,
    "message_type" TEXT NOT NULL,
    "content" TEXT NOT NULL,
    "received_ts" BIGINT NOT NULL,

    CONSTRAINT "device_inbox_pkey" PRIMARY KEY ("stream_id")
);

-- CreateTable
CREATE TABLE "device_federation_inbox" (
    "origin" TEXT NOT NULL,
    "message_id" TEXT NOT NULL,
    "received_ts" BIGINT NOT NULL,

    CONSTRAINT "device_federation_inbox_pkey" PRIMARY KEY ("origin","message_id")
);

-- CreateIndex
CREATE INDEX "received_transactions_ts_idx" ON "received_transactions"("ts");

-- CreateIndex
CREATE INDEX "federation_inbound_events_staging_room_id_id_idx" ON "federation_inbound_events_staging"("room_id", "id");

-- CreateIndex
CREATE UNIQUE INDEX "federation_inbound_events_staging_room_id_event_id_key" ON "federation_inbound_events_staging"("room_id", "event_id");

-- CreateIndex
CREATE INDEX "inbound_edus_origin_id_idx" ON "inbound_edus"("origin", "id");

-- CreateIndex
CREATE INDEX "device_inbox_user_id_device_id_stream_id_idx" ON "device_inbox"("user_id", "device_id", "stream_id");
