-- Spells of an address on an interface that held it for part of its life only: an Elastic IP
-- associated with the interface (CloudTrail's AssociateAddress) until it was disassociated
-- (DisassociateAddress), and an allocation idle between its associations. An address with no
-- spell is held for the interface's whole life, as before.
CREATE TABLE address_spells (
    eni_id TEXT NOT NULL,
    ip TEXT NOT NULL,
    held_from INTEGER NOT NULL,
    held_to INTEGER,
    association_id TEXT,
    PRIMARY KEY (eni_id, ip, held_from)
);
CREATE INDEX address_spells_by_association ON address_spells (association_id);
