// Types of scripts/bench-tables.mjs (plain JavaScript so it runs without a build).
export declare const REPO: string;
export declare function benchTables(repo?: string): Record<string, string>;
export declare function fillReadme(readme: string, tables: Record<string, string>): { text: string; problems: string[] };
export declare function tlsTable(tls: unknown): string;
export declare function writeReadmeTables(repo?: string): { changed: boolean; problems: string[] };
