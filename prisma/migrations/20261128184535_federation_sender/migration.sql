-- AlterTable
ALTER TABLE "device_lists_outbound_pokes" ADD COLUMN     "edu_type" TEXT NOT NULL DEFAULT 'm.device_list_update';

-- CreateTable
CREATE TABLE "federation_stream_position" (
    "type" TEXT NOT NULL,
    "instance_name" TEXT NOT NULL,
    "stream_id" BIGINT NOT NULL,

    CONSTRAINT "federation_stream_position_pkey" PRIMARY KEY ("type","instance_name")
);
