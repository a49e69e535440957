/**
 * Maps each message type's name to the type of its payload: the type parameter of the SDK's
 * `HeraldClient<HeraldMessageTypes>`, which makes `send` and `on('message')` check payloads by
 * type name. It is a type alias, not an interface, so that it satisfies `Record<string, unknown>`.
 */
export type HeraldMessageTypes = {
    /** Restarts the app on the device. */
    'app.restart.v1': AppRestartV1;
    /** Requests diagnostics from a device. */
    'diagnostics.request.v1': DiagnosticsRequestV1;
    /** Shows a notification on the device. */
    'notification.v1': NotificationV1;
    /** Controls playback on another device of the account. */
    'playback.control.v1': PlaybackControlV1;
    /** Tells the devices of an account that a profile changed. */
    'profile.updated.v1': ProfileUpdatedV1;
};
/** The name of every message type, sorted. */
export declare const heraldTypeNames: readonly ["app.restart.v1", "diagnostics.request.v1", "notification.v1", "playback.control.v1", "profile.updated.v1"];
/**
 * Asks the app to restart itself.
 *
 * `app.restart.v1`: Restarts the app on the device.
 *
 * Sent service_to_device; priority high; TTL 120 s; acknowledged by default; payload at most 4096
 * bytes.
 */
export type AppRestartV1 = {
    /**
     * Why the restart is needed, for logs.
     *
     * Checked by the server, not by this type: minLength 1.
     */
    reason: string;
    /**
     * Wait this long before restarting.
     *
     * Checked by the server, not by this type: integer, minimum 0, maximum 600000.
     */
    delay_ms?: number;
    /** Clear the app's caches before restarting. */
    clear_cache?: boolean;
};
/**
 * Asks a device to collect diagnostics and upload them.
 *
 * `diagnostics.request.v1`: Requests diagnostics from a device.
 *
 * Sent service_to_device; priority normal; TTL 600 s; acknowledged by default; payload at most
 * 4096 bytes.
 */
export type DiagnosticsRequestV1 = {
    /**
     * Correlates the upload with the request.
     *
     * Checked by the server, not by this type: minLength 1.
     */
    request_id: string;
    /**
     * What to collect.
     *
     * Checked by the server, not by this type: minItems 1, uniqueItems.
     */
    kinds: ('logs' | 'metrics' | 'network' | 'playback')[];
    /**
     * Where to upload; the device's default when absent.
     *
     * Checked by the server, not by this type: format uri.
     */
    upload_url?: string;
    /**
     * Collect from this Unix time in milliseconds.
     *
     * Checked by the server, not by this type: integer, minimum 0.
     */
    since_ms?: number;
};
/**
 * A user-visible notification shown by the device.
 *
 * `notification.v1`: Shows a notification on the device.
 *
 * Sent service_to_device and service_to_topic; priority high; TTL 3600 s; not acknowledged by
 * default; payload at most 4096 bytes.
 */
export type NotificationV1 = {
    /**
     * Headline of the notification.
     *
     * Checked by the server, not by this type: minLength 1, maxLength 200.
     */
    title: string;
    /**
     * Text below the headline.
     *
     * Checked by the server, not by this type: minLength 0, maxLength 4000.
     */
    body?: string;
    /**
     * Where the app goes when the notification is opened.
     *
     * Checked by the server, not by this type: format uri.
     */
    deep_link?: string;
    /**
     * Image shown with the notification.
     *
     * Checked by the server, not by this type: format uri.
     */
    image?: string;
    /** Opaque key-value pairs for the app. */
    data?: {
        [key: string]: string;
    };
};
/**
 * Remote control of playback, e.g. a phone controlling a TV.
 *
 * `playback.control.v1`: Controls playback on another device of the account.
 *
 * Sent device_to_device and service_to_device; priority high; TTL 30 s; acknowledged by default;
 * payload at most 4096 bytes.
 *
 * Not expressed in this type (the server checks it):
 * - when `action` is `'seek'`, `position_ms` is required.
 * - when `action` is `'volume'`, `volume` is required.
 */
export type PlaybackControlV1 = {
    /** What to do. */
    action: 'play' | 'pause' | 'seek' | 'volume' | 'stop';
    /**
     * Seek target in milliseconds; required for seek.
     *
     * Checked by the server, not by this type: integer, minimum 0.
     */
    position_ms?: number;
    /**
     * Volume in percent; required for volume.
     *
     * Checked by the server, not by this type: integer, minimum 0, maximum 100.
     */
    volume?: number;
    /**
     * The title the command is about.
     *
     * Checked by the server, not by this type: minLength 1.
     */
    title_id?: string;
};
/**
 * A profile changed on the backend; the device refreshes the named fields.
 *
 * `profile.updated.v1`: Tells the devices of an account that a profile changed.
 *
 * Sent service_to_device; priority normal; TTL 300 s; not acknowledged by default; payload at most
 * 4096 bytes.
 */
export type ProfileUpdatedV1 = {
    /**
     * The profile that changed.
     *
     * Checked by the server, not by this type: minLength 1.
     */
    profile_id: string;
    /**
     * Names of the fields that changed.
     *
     * Checked by the server, not by this type: uniqueItems, each item (minLength 1).
     */
    fields: string[];
    /**
     * The profile's version after the change.
     *
     * Checked by the server, not by this type: integer, minimum 0.
     */
    version?: number;
};
