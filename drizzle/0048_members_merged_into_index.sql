-- The members merged into one, found from it: a campaign run checks whether the person it is about to message was
-- already messaged as a member merged into them since (one probe per recipient, on an index of the few merged).
CREATE INDEX "members_merged_into_idx" ON "members" USING btree ("merged_into") WHERE "members"."merged_into" is not null;
