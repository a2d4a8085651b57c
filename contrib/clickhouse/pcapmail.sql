-- ClickHouse tables for pcapmail's jsonl records (schema pcapmail/1), one table per
-- record "type". Load a record, without its "type" field, as JSONEachRow:
--
--   jq -c 'select(.type=="session") | del(.type)' out.jsonl |
--     clickhouse-client --date_time_input_format=best_effort \
--       -q 'INSERT INTO pcapmail.sessions FORMAT JSONEachRow'
--
-- (contrib/vector/pcapmail.toml does the same routing for a stream.) Settings the load
-- needs: date_time_input_format = 'best_effort' (RFC 3339 times with µs or ns), and the
-- default input_format_null_as_default = 1 (a null where ClickHouse cannot store one,
-- e.g. a command's reply that was not seen, becomes the type's default: an empty tuple).
-- Every field of the JSON Schema has a column (contrib/tests checks it and loads the
-- sample records with unknown fields refused). Fields added by the Spark job: group, and
-- exit_status on captures. A capture that could not be read has only path and error.
--
-- Join credentials and messages to their session on (capture run, session id):
-- ids are unique within one pcapmail run (or one Spark group: `group`), so a store that
-- collects many runs joins on (group, session) = (group, id), or on community_id + start.

CREATE DATABASE IF NOT EXISTS pcapmail;

CREATE TABLE IF NOT EXISTS pcapmail.captures
(
    `path`        String,
    `format`      LowCardinality(String),
    `gzip`        Bool DEFAULT false,
    `link_types`  Array(LowCardinality(String)),
    `packets`     UInt64,
    `bytes`       UInt64,
    `first`       Nullable(DateTime64(9, 'UTC')),
    `last`        Nullable(DateTime64(9, 'UTC')),
    `warnings`    Array(Tuple(offset Nullable(UInt64), frame Nullable(UInt64), message String)),
    `counters`    Map(String, UInt64),
    `group`       String DEFAULT '',
    `error`       Nullable(String),
    `exit_status` Nullable(Int32)
)
ENGINE = MergeTree
ORDER BY (path);

CREATE TABLE IF NOT EXISTS pcapmail.sessions
(
    `id`               String,
    `protocol`         LowCardinality(String),
    `client`           Tuple(ip String, port UInt16),
    `server`           Tuple(ip String, port UInt16),
    `start`            DateTime64(9, 'UTC'),
    `end`              DateTime64(9, 'UTC'),
    `tls`              LowCardinality(String),
    `complete`         Bool,
    `gaps`             UInt64,
    `gap_bytes`        UInt64,
    `capture`          String,
    `first_frame`      UInt64,
    `last_frame`       UInt64,
    `bytes_client`     UInt64,
    `bytes_server`     UInt64,
    `starttls_offered` Bool,
    `banner`           Nullable(String),
    `close`            LowCardinality(String),
    `commands`         Array(Tuple(
                           tag Nullable(String), verb String, arg String, frame UInt64,
                           capture Nullable(String), time DateTime64(9, 'UTC'),
                           reply Tuple(code String, status Nullable(String), enhanced Nullable(String),
                                       text String, frame UInt64, time DateTime64(9, 'UTC')))),
    `findings`         Array(Tuple(code LowCardinality(String), detail String)),
    `truncated`        Array(String),
    `anomalies`        Array(String),
    -- SMTP
    `helo`             Nullable(String),
    `extensions`       Array(String),
    `transactions`     Array(Tuple(
                           mail_from Nullable(String), mail_params Nullable(String),
                           rcpt_to Array(Tuple(address String, accepted Bool, reply Nullable(String))),
                           message Nullable(String), data_reply Nullable(String),
                           accepted Nullable(Bool), frame UInt64, time DateTime64(9, 'UTC'))),
    -- POP3 (capabilities: also IMAP)
    `capabilities`     Array(String),
    `stat`             Array(UInt64),
    `list`             Array(Array(UInt64)),
    `uidl`             Array(Tuple(UInt64, String)),
    `retrieved`        Array(UInt64),
    `deleted`          Array(UInt64),
    `reset`            Bool DEFAULT false,
    -- IMAP (capabilities above)
    `client_id`        Array(Array(Nullable(String))),
    `server_id`        Array(Array(Nullable(String))),
    `mailboxes`        Array(Tuple(name String, command LowCardinality(String), exists Nullable(UInt64),
                                   success Nullable(Bool))),
    `enabled`          Array(String),
    `compressed`       Bool DEFAULT false,
    `preauth`          Bool DEFAULT false,
    -- TLS (STARTTLS or implicit), a default tuple when there was none
    `tls_info`         Tuple(version Nullable(String), cipher Nullable(String), sni Nullable(String),
                             alpn Nullable(String), alpn_offered Array(String),
                             server_certificate Tuple(subject Nullable(String), issuer Nullable(String),
                                                      not_before Nullable(String), not_after Nullable(String),
                                                      sha256 Nullable(String), self_signed Nullable(Bool)),
                             decrypted Nullable(Bool)),
    -- later pcapmail versions and the Spark job
    `community_id`     String DEFAULT '',
    `group`            String DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(start)
ORDER BY (start, capture, id);

CREATE TABLE IF NOT EXISTS pcapmail.credentials
(
    `session`     String,
    `protocol`    LowCardinality(String),
    `client`      Tuple(ip String, port UInt16),
    `server`      Tuple(ip String, port UInt16),
    `mechanism`   LowCardinality(String),
    `username`    Nullable(String),
    `password`    Nullable(String),
    `token`       Nullable(String),
    `hash`        Nullable(String),
    `authzid`     Nullable(String),
    `success`     Nullable(Bool),
    `reply`       Nullable(String),
    `time`        DateTime64(9, 'UTC'),
    `frame`       UInt64,
    `capture`     Nullable(String),
    `encrypted`   Bool,
    `undecodable` Array(String),
    `group`       String DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, session);

CREATE TABLE IF NOT EXISTS pcapmail.messages
(
    `id`          String,
    `session`     String,
    `direction`   LowCardinality(String),
    `partial`     Bool DEFAULT false,
    `size`        UInt64,
    `sha256`      FixedString(64),
    `complete`    Bool,
    `mail_from`   Nullable(String),
    `rcpt_to`     Array(String),
    `pop3_number` Nullable(UInt64),
    `uidl`        Nullable(String),
    `headers`     Tuple(message_id Nullable(String), subject Nullable(String), `from` Nullable(String),
                        `to` Array(String), date Nullable(String), cc Array(String),
                        reply_to Nullable(String), in_reply_to Nullable(String),
                        user_agent Nullable(String), x_originating_ip Nullable(String),
                        received Array(String)),
    `attachments` Array(Tuple(filename Nullable(String), content_type String, size UInt64,
                              sha256 FixedString(64), container Nullable(String))),
    `frame`       UInt64,
    `capture`     Nullable(String),
    `time`        DateTime64(9, 'UTC'),
    `truncated`   Array(String),
    `imap_mailbox` Nullable(String),
    `imap_uid`     Nullable(UInt64),
    `imap_seq`     Nullable(UInt64),
    `imap_section` Nullable(String),
    `missing`      Nullable(String),
    `group`       String DEFAULT ''
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, sha256);
