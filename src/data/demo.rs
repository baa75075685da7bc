//! The demo dataset: synthetic comic-book characters, generated deterministically.
//!
//! cerebro's demo task predicts whether a comic character is alive. The task is modelled on the
//! FiveThirtyEight "comic characters" data (scraped from the Marvel wikia), but the project does
//! not ship that data: this module invents a look-alike instead. Every name is made up from word
//! lists below; no row describes a real character.
//!
//! What the generator reproduces from the real file:
//!
//! - **Shape**: the same 13 columns, header line, value vocabularies and formats (`Secret
//!   Identity`, `Bad Characters`, `Blue Eyes`, `Living Characters`, `urlslug` like
//!   `\/Crimson_Viper_(Earth-616)`, `FIRST APPEARANCE` like `Aug-62` matching `Year`), rows
//!   sorted by `APPEARANCES` (descending, empty last) as in the original. A few names hold commas
//!   or the original's backslash-escaped double quotes, so CSV quoting is exercised.
//! - **Marginals**: category frequencies, including the long tail of rare eye and hair colours,
//!   and null rates close to the real ones; a heavy-tailed `APPEARANCES` (median 3, a few
//!   characters in the thousands); first-appearance years spread over 1939–2013 like the
//!   original (a Golden-Age bump in the 1940s, a peak in the early 1990s).
//! - **Dependencies**: a latent "prominence" drives `APPEARANCES` and how completely a character
//!   is documented (obscure characters have more empty fields); alignment depends on sex,
//!   identity on alignment, hair colour on sex; 1960s characters appear most often.
//! - **Target**: the log-odds of `ALIVE` are a noisy sum of effects: more appearances, good
//!   alignment, female sex, a recent (but not the most recent) debut and an undocumented profile
//!   make survival likelier; villains, secret identities and Golden-Age debuts make it less
//!   likely. Two interactions (recurring villains survive, Golden-Age villains do not) and a
//!   latent noise term keep it learnable but far from trivial: a decent model reaches a ROC AUC
//!   of about 0.75.
//!
//! Determinism: the output depends only on `seed` and `rows`. All randomness comes from one
//! [`StdRng`] drawn in a fixed order, integer ranges are `u32`/`u64` (never `usize`, whose
//! sampling differs between 32- and 64-bit targets), and the few real-valued computations use
//! only IEEE-754 basic arithmetic (a hand-written `exp` instead of the platform's libm), so the
//! same seed yields byte-identical CSV on every platform.

use std::collections::BTreeSet;
use std::f64::consts::LN_2;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};

/// Number of rows the demo file has (the real file has 16,376).
pub const DEMO_ROWS: usize = 16_000;

/// Seed of the demo file (the date the original data was published, 2014-10-13).
pub const DEMO_SEED: u64 = 20_141_013;

/// The columns of the demo file, in order; identical to the real file's header.
pub const COLUMNS: [&str; 13] = [
    "page_id",
    "name",
    "urlslug",
    "ID",
    "ALIGN",
    "EYE",
    "HAIR",
    "SEX",
    "GSM",
    "ALIVE",
    "APPEARANCES",
    "FIRST APPEARANCE",
    "Year",
];

/// The demo CSV as bytes, fully determined by `seed` and `rows`.
///
/// The CSV has a header line, `rows` records, LF line endings and a trailing newline.
pub fn generate(seed: u64, rows: usize) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut names = BTreeSet::new();
    let mut page_ids = BTreeSet::new();
    // Wide enough that rejection sampling of unique ids always terminates quickly.
    let id_span = (4 * rows as u64).max(759_000);
    let mut characters: Vec<Character> = (0..rows)
        .map(|index| Character::draw(&mut rng, index, id_span, &mut names, &mut page_ids))
        .collect();
    // The real file lists the most-appearing characters first; names are unique, so this is a
    // total order and the result does not depend on the sort algorithm.
    characters.sort_by(|a, b| {
        b.appearances
            .cmp(&a.appearances)
            .then_with(|| a.name.cmp(&b.name))
    });

    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::with_capacity(rows * 150 + 128));
    writer
        .write_record(COLUMNS)
        .expect("writing CSV to memory cannot fail");
    for character in &characters {
        writer
            .write_record(character.record())
            .expect("writing CSV to memory cannot fail");
    }
    writer
        .into_inner()
        .expect("flushing CSV to memory cannot fail")
}

/// Writes `generate(DEMO_SEED, DEMO_ROWS)` to `path` atomically (temp file + rename), creating
/// parent directories as needed.
pub fn write_demo(path: &Path) -> Result<()> {
    let bytes = generate(DEMO_SEED, DEMO_ROWS);
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let file_name = path
        .file_name()
        .ok_or_else(|| Error::invalid(format!("not a file path: {}", path.display())))?;
    // Unique per process and call, so concurrent writers never share a temporary file.
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let tmp = parent.join(format!(
        ".{}.tmp-{}-{}",
        file_name.to_string_lossy(),
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(&tmp, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

// ---------------------------------------------------------------------------------------------
// Vocabularies. Weights are the real file's counts, so relative frequencies (and the long tail
// of rare categories) match; empty values are decided separately, see `Character::draw`.
// ---------------------------------------------------------------------------------------------

/// A categorical distribution: values with integer weights.
type Table = &'static [(&'static str, u32)];

const MALE: &str = "Male Characters";
const FEMALE: &str = "Female Characters";
const GOOD: &str = "Good Characters";
const BAD: &str = "Bad Characters";
const NEUTRAL: &str = "Neutral Characters";
const SECRET: &str = "Secret Identity";
const PUBLIC: &str = "Public Identity";
const NO_DUAL: &str = "No Dual Identity";
const KNOWN: &str = "Known to Authorities Identity";
const LIVING: &str = "Living Characters";
const DECEASED: &str = "Deceased Characters";

const SEX: Table = &[
    (MALE, 11_638),
    (FEMALE, 3_837),
    ("Agender Characters", 45),
    ("Genderfluid Characters", 2),
];

const ALIGN_MALE: Table = &[(BAD, 5_338), (GOOD, 2_966), (NEUTRAL, 1_440)];
const ALIGN_FEMALE: Table = &[(GOOD, 1_537), (BAD, 976), (NEUTRAL, 640)];
const ALIGN_OTHER: Table = &[(BAD, 406), (GOOD, 133), (NEUTRAL, 128)];

const ID_GOOD: Table = &[
    (PUBLIC, 1_628),
    (SECRET, 1_613),
    (NO_DUAL, 647),
    (KNOWN, 10),
];
const ID_BAD: Table = &[(SECRET, 3_223), (PUBLIC, 1_452), (NO_DUAL, 474), (KNOWN, 3)];
const ID_NEUTRAL: Table = &[(SECRET, 818), (PUBLIC, 706), (NO_DUAL, 390), (KNOWN, 2)];
const ID_UNALIGNED: Table = &[(PUBLIC, 742), (SECRET, 621), (NO_DUAL, 277)];

const EYE: Table = &[
    ("Blue Eyes", 1_962),
    ("Brown Eyes", 1_924),
    ("Green Eyes", 613),
    ("Black Eyes", 555),
    ("Red Eyes", 508),
    ("White Eyes", 400),
    ("Yellow Eyes", 256),
    ("Grey Eyes", 95),
    ("Hazel Eyes", 76),
    ("Variable Eyes", 49),
    ("Purple Eyes", 31),
    ("Orange Eyes", 25),
    ("Pink Eyes", 21),
    ("One Eye", 21),
    ("Gold Eyes", 14),
    ("Silver Eyes", 12),
    ("Violet Eyes", 11),
    ("Amber Eyes", 10),
    ("Multiple Eyes", 7),
    ("No Eyes", 7),
    ("Yellow Eyeballs", 6),
    ("Black Eyeballs", 3),
    ("Magenta Eyes", 2),
    ("Compound Eyes", 1),
];

const HAIR_MALE: Table = &[
    ("Black Hair", 2_678),
    ("Brown Hair", 1_801),
    ("Blond Hair", 844),
    ("No Hair", 841),
    ("Bald", 778),
    ("White Hair", 608),
    ("Grey Hair", 452),
    ("Red Hair", 305),
    ("Green Hair", 66),
    ("Orange Hair", 35),
    ("Blue Hair", 29),
    ("Auburn Hair", 28),
    ("Variable Hair", 22),
    ("Purple Hair", 19),
    ("Strawberry Blond Hair", 17),
    ("Yellow Hair", 16),
    ("Pink Hair", 9),
    ("Silver Hair", 8),
    ("Gold Hair", 7),
    ("Reddish Blond Hair", 6),
    ("Light Brown Hair", 6),
    ("Orange-brown Hair", 3),
    ("Bronze Hair", 1),
    ("Magenta Hair", 1),
];
const HAIR_FEMALE: Table = &[
    ("Black Hair", 1_048),
    ("Blond Hair", 730),
    ("Brown Hair", 521),
    ("Red Hair", 311),
    ("White Hair", 130),
    ("No Hair", 92),
    ("Grey Hair", 76),
    ("Auburn Hair", 50),
    ("Green Hair", 48),
    ("Bald", 43),
    ("Strawberry Blond Hair", 30),
    ("Purple Hair", 26),
    ("Blue Hair", 26),
    ("Pink Hair", 22),
    ("Silver Hair", 8),
    ("Orange Hair", 8),
    ("Variable Hair", 5),
    ("Magenta Hair", 4),
    ("Yellow Hair", 4),
    ("Gold Hair", 1),
    ("Dyed Hair", 1),
];
/// Characters without a recorded sex are mostly robots, monsters and cosmic entities.
const HAIR_OTHER: Table = &[
    ("No Hair", 243),
    ("Black Hair", 29),
    ("Brown Hair", 17),
    ("Bald", 17),
    ("White Hair", 16),
    ("Blond Hair", 8),
    ("Variable Hair", 5),
    ("Red Hair", 4),
    ("Green Hair", 3),
    ("Grey Hair", 3),
    ("Purple Hair", 2),
    ("Blue Hair", 1),
];

const GSM: Table = &[
    ("Homosexual Characters", 66),
    ("Bisexual Characters", 19),
    ("Transgender Characters", 2),
    ("Transvestites", 1),
    ("Pansexual Characters", 1),
    ("Genderfluid Characters", 1),
];

/// First-appearance years in five-year bins `(first, last, weight)`, from the real file.
const YEAR_BINS: &[(u32, u32, u32)] = &[
    (1939, 1939, 69),
    (1940, 1944, 1_004),
    (1945, 1949, 437),
    (1950, 1954, 230),
    (1955, 1959, 72),
    (1960, 1964, 586),
    (1965, 1969, 720),
    (1970, 1974, 912),
    (1975, 1979, 1_322),
    (1980, 1984, 1_117),
    (1985, 1989, 1_308),
    (1990, 1994, 2_211),
    (1995, 1999, 1_446),
    (2000, 2004, 1_400),
    (2005, 2009, 1_686),
    (2010, 2013, 1_041),
];

const MONTHS: Table = &[
    ("Jan", 1_294),
    ("Feb", 1_114),
    ("Mar", 1_298),
    ("Apr", 1_099),
    ("May", 1_179),
    ("Jun", 1_307),
    ("Jul", 1_235),
    ("Aug", 1_412),
    ("Sep", 1_392),
    ("Oct", 1_422),
    ("Nov", 1_393),
    ("Dec", 1_416),
];

// Name parts. All invented; a few accented first names exercise UTF-8 and percent-encoding.

const FIRST_MALE: &[&str] = &[
    "Aldo", "Anselm", "Barnaby", "Bram", "Caspian", "Cyrus", "Dexter", "Dorian", "Emrys", "Ezra",
    "Felix", "Fitz", "Gideon", "Gus", "Hollis", "Hugo", "Ignatius", "Ivo", "Jasper", "Jonas",
    "Kellan", "Kip", "Lazlo", "Leander", "Milo", "Nico", "Orrin", "Otto", "Percival", "Quentin",
    "Rafferty", "Rufus", "Silas", "Sterling", "Tobias", "Tomás", "Ulric", "Vaughn", "Wendell",
    "Xavi", "Yorick", "Zane", "Björn", "Ambrose", "Cormac", "Lucan", "Magnus", "Osric",
];
const FIRST_FEMALE: &[&str] = &[
    "Ada",
    "Astrid",
    "Beatrix",
    "Bryony",
    "Calla",
    "Cleo",
    "Dana",
    "Delphine",
    "Elspeth",
    "Esme",
    "Fern",
    "Freya",
    "Gilda",
    "Gwenda",
    "Hana",
    "Hester",
    "Imogen",
    "Inés",
    "Jolene",
    "Juno",
    "Katya",
    "Kestrel",
    "Lark",
    "Liora",
    "Maren",
    "Mireille",
    "Nell",
    "Odette",
    "Petra",
    "Quinn",
    "Rosalind",
    "Saoirse",
    "Tamsin",
    "Ursa",
    "Vesper",
    "Wren",
    "Xandra",
    "Yara",
    "Zinnia",
    "Zoë",
    "Agatha",
    "Brigid",
    "Clementine",
    "Dagny",
    "Edda",
    "Isolde",
    "Marisol",
    "Philippa",
];
const SURNAME_HEAD: &[&str] = &[
    "Ash", "Black", "Brack", "Cald", "Dray", "Fen", "Gall", "Hald", "Kes", "Lorn", "Marr", "Nor",
    "Quill", "Rav", "Stor", "Thorn", "Vell", "Wick", "Yar", "Zell",
];
const SURNAME_TAIL: &[&str] = &[
    "wick", "ford", "ton", "by", "mere", "holt", "ridge", "stone", "well", "croft", "hart", "vane",
    "dale", "worth", "more", "ley",
];
const CODE_ADJECTIVE: &[&str] = &[
    "Crimson", "Azure", "Obsidian", "Silent", "Quantum", "Atomic", "Midnight", "Scarlet", "Shadow",
    "Solar", "Thunder", "Frost", "Ember", "Cobalt", "Radiant", "Phantom", "Savage", "Gilded",
    "Hollow", "Jade", "Lunar", "Mecha", "Neon", "Onyx", "Psionic", "Rust", "Static", "Toxic",
    "Umbral", "Velvet", "Wild", "Zero", "Copper", "Dread", "Feral", "Glass", "Howling", "Ivory",
    "Vortex", "Amber", "Blazing", "Chrome", "Dusk", "Electric", "Grim", "Hex", "Icy", "Mirror",
    "Nether", "Plasma", "Rogue", "Sable", "Tidal", "Venom", "Woeful", "Zephyr",
];
const CODE_NOUN: &[&str] = &[
    "Viper", "Moth", "Jackal", "Falcon", "Wraith", "Golem", "Harpy", "Hornet", "Kraken", "Lynx",
    "Mantis", "Nomad", "Oracle", "Paladin", "Raven", "Sentinel", "Sphinx", "Talon", "Tempest",
    "Warden", "Weasel", "Basilisk", "Cipher", "Dynamo", "Echo", "Gargoyle", "Griffin", "Heron",
    "Jester", "Knight", "Lancer", "Marauder", "Minotaur", "Nova", "Pilgrim", "Ronin", "Specter",
    "Tinker", "Vandal", "Wyvern", "Yeti", "Badger", "Comet", "Drifter", "Fury", "Gremlin", "Hound",
    "Iguana", "Kestrel", "Lich", "Mongoose", "Otter", "Prowler", "Reaper", "Scarab", "Troll",
];
/// Gender-neutral titles, since the codename is drawn independently of the character's sex.
const CODE_TITLE: &[&str] = &[
    "Doctor",
    "Captain",
    "Professor",
    "Agent",
    "General",
    "Commander",
    "Major",
    "Marshal",
];
const CODE_HEAD: &[&str] = &[
    "Zor", "Kra", "Vex", "Mor", "Thul", "Gra", "Xan", "Bel", "Quor", "Dru", "Ska", "Nyx", "Oph",
    "Ul", "Yth", "Sar",
];
const CODE_TAIL: &[&str] = &[
    "gath", "tron", "ax", "ulon", "ithra", "vok", "esh", "ora", "mire", "zul", "ix", "oth", "anar",
    "ek", "umbra", "is",
];
const NICKNAMES: &[&str] = &[
    "Ace", "Bones", "Lucky", "Sparky", "Doc", "Tank", "Red", "Slim",
];
/// Variant qualifiers, as in `Emma Frost (Skrull) (Earth-616)`; two contain commas.
const QUALIFIERS: Table = &[
    ("Clone", 10),
    ("Android", 10),
    ("Decoy", 10),
    ("Future", 10),
    ("Mirror", 10),
    ("Zombie", 10),
    ("Robot", 10),
    ("Impostor", 10),
    ("Android, Mark II", 1),
    ("Clone, Deceased Timeline", 1),
];
/// Alternate universes (invented numbers). Names without a universe default to Earth-616.
const UNIVERSES: &[u32] = &[1_207, 2_311, 4_107, 5_150, 7_212, 8_096, 9_411];
/// Name suffixes written after a comma, as in `Nicholas Fury, Jr. (Earth-616)`.
const SUFFIXES: &[&str] = &["Jr.", "Sr.", "III"];

// ---------------------------------------------------------------------------------------------
// The generative model.
// ---------------------------------------------------------------------------------------------

/// One generated row.
struct Character {
    page_id: u64,
    name: String,
    id: Option<&'static str>,
    align: Option<&'static str>,
    eye: Option<&'static str>,
    hair: Option<&'static str>,
    sex: Option<&'static str>,
    gsm: Option<&'static str>,
    alive: Option<bool>,
    appearances: Option<u32>,
    /// `(year, month abbreviation)` of the first appearance.
    debut: Option<(u32, &'static str)>,
}

impl Character {
    /// Draws one character. The order of the draws is part of the output format: changing it
    /// changes every demo file.
    fn draw(
        rng: &mut StdRng,
        index: usize,
        id_span: u64,
        names: &mut BTreeSet<String>,
        page_ids: &mut BTreeSet<u64>,
    ) -> Self {
        // Undocumented appearance counts go with sparser pages, including the debut.
        let appearances_missing = rng.gen_bool(0.067);
        let year_missing = rng.gen_bool(if appearances_missing { 0.18 } else { 0.040 });
        let debut = if year_missing {
            None
        } else {
            let bin = pick_index(rng, YEAR_BINS.iter().map(|&(_, _, w)| w));
            let (first, last, _) = YEAR_BINS[bin];
            let year = rng.gen_range(first..=last);
            Some((year, pick(rng, MONTHS)))
        };
        let year = debut.map(|(y, _)| y);

        // Prominence: the (continuous) log of the number of appearances.
        let z = normal(rng);
        // Skewed and heavy-tailed: a kink at z = 1.3 stretches the upper tail.
        let fame = era_log_appearances(year)
            + if z < 0.0 {
                0.85 * z
            } else {
                1.45 * z + 0.95 * (z - 1.3).max(0.0)
            };
        let appearances = if appearances_missing {
            None
        } else {
            Some(appearances_from_log(fame))
        };

        // Obscure characters are documented less completely.
        let f = fame.max(0.0);
        let bump = if appearances_missing { 0.55 } else { 0.0 };
        let sex =
            (!rng.gen_bool(sigmoid(-2.4 - 0.3 * f - 0.1 * f * f + bump))).then(|| pick(rng, SEX));
        let align_table = match sex {
            Some(MALE) => ALIGN_MALE,
            Some(FEMALE) => ALIGN_FEMALE,
            _ => ALIGN_OTHER,
        };
        let align =
            (!rng.gen_bool(sigmoid(-1.36 - 0.08 * f * f + bump))).then(|| pick(rng, align_table));
        let id_table = match align {
            Some(GOOD) => ID_GOOD,
            Some(BAD) => ID_BAD,
            Some(_) => ID_NEUTRAL,
            None => ID_UNALIGNED,
        };
        let id = (!rng.gen_bool(sigmoid(-0.8 - 0.1 * f - 0.12 * f * f + bump)))
            .then(|| pick(rng, id_table));
        let hair_table = match sex {
            Some(MALE) => HAIR_MALE,
            Some(FEMALE) => HAIR_FEMALE,
            _ => HAIR_OTHER,
        };
        let hair = (!rng.gen_bool(sigmoid(-0.7 - 0.1 * f - 0.1 * f * f + 1.3 * bump)))
            .then(|| pick(rng, hair_table));
        let eye = (!rng.gen_bool(sigmoid(1.3 - 0.5 * f - 0.05 * f * f))).then(|| pick(rng, EYE));
        let gsm = rng.gen_bool(0.0055).then(|| pick(rng, GSM));

        // The target.
        let logit = alive_logit(fame, year, sex, align, id, hair) + 0.3 * normal(rng);
        let living = rng.gen_bool(sigmoid(logit));
        let alive = (!rng.gen_bool(0.0002)).then_some(living);

        let name = unique_name(rng, index, sex, fame, names);
        let page_id = loop {
            let candidate = 1_000 + rng.gen_range(0..id_span);
            if page_ids.insert(candidate) {
                break candidate;
            }
        };

        Character {
            page_id,
            name,
            id,
            align,
            eye,
            hair,
            sex,
            gsm,
            alive,
            appearances,
            debut,
        }
    }

    /// The CSV fields, in [`COLUMNS`] order.
    fn record(&self) -> [String; 13] {
        let text = |v: Option<&str>| v.unwrap_or_default().to_owned();
        [
            self.page_id.to_string(),
            self.name.clone(),
            url_slug(&self.name),
            text(self.id),
            text(self.align),
            text(self.eye),
            text(self.hair),
            text(self.sex),
            text(self.gsm),
            text(self.alive.map(|a| if a { LIVING } else { DECEASED })),
            self.appearances.map(|a| a.to_string()).unwrap_or_default(),
            self.debut
                .map(|(y, m)| format!("{m}-{:02}", y % 100))
                .unwrap_or_default(),
            self.debut.map(|(y, _)| y.to_string()).unwrap_or_default(),
        ]
    }
}

/// Median log-appearances by debut era: Golden-Age one-shots appear once, the 1960s created
/// the long-running casts, recent characters have had less time to appear.
fn era_log_appearances(year: Option<u32>) -> f64 {
    match year {
        None => 0.9,
        Some(..=1949) => 0.1,
        Some(1950..=1959) => 0.7,
        Some(1960..=1969) => 1.75,
        Some(1970..=1979) => 1.55,
        Some(1980..=1989) => 1.35,
        Some(1990..=2009) => 1.05,
        Some(_) => 0.95,
    }
}

/// Whole appearances from log-appearances: at least 1, capped at a plausible maximum.
fn appearances_from_log(log_appearances: f64) -> u32 {
    // `as` saturates, so the cast is safe for any input; the clamp bounds `exp`'s argument.
    (exp(log_appearances.clamp(0.0, 8.4)) as u32).clamp(1, 4_500)
}

/// Log-odds of being alive, before noise. `fame` is the log of the number of appearances.
fn alive_logit(
    fame: f64,
    year: Option<u32>,
    sex: Option<&str>,
    align: Option<&str>,
    id: Option<&str>,
    hair: Option<&str>,
) -> f64 {
    let fame = fame.clamp(-1.0, 7.0);
    let mut logit = 0.68 + 0.38 * fame;
    logit += match align {
        Some(GOOD) => 0.6,
        Some(BAD) => -0.75,
        Some(_) => 0.0,
        None => 0.7,
    };
    logit += match sex {
        Some(MALE) => 0.0,
        Some(FEMALE) => 0.45,
        Some(_) => 0.45,
        None => 0.7,
    };
    logit += match id {
        Some(SECRET) => -0.4,
        Some(PUBLIC) => 0.05,
        Some(NO_DUAL) => -0.15,
        Some(_) => 1.0,
        None => 0.55,
    };
    logit += match year {
        None => 0.7,
        Some(..=1949) => -0.5,
        Some(1950..=1959) => -0.3,
        Some(1960..=1979) => 0.0,
        Some(1980..=1989) => 0.3,
        Some(1990..=1999) => 0.4,
        Some(_) => -0.25,
    };
    logit += match hair {
        Some("Grey Hair" | "White Hair" | "Bald") => -0.25,
        Some("Variable Hair" | "No Hair") => 0.2,
        _ => 0.0,
    };
    // Interactions: villains who keep coming back are the ones that survive; Golden-Age villains
    // were written to be killed off; good women rarely die.
    if align == Some(BAD) {
        logit += 0.2 * fame;
        if year.is_some_and(|y| y < 1950) {
            logit -= 0.5;
        }
    }
    if align == Some(GOOD) && sex == Some(FEMALE) {
        logit += 0.3;
    }
    logit
}

/// A fresh name not in `names`, which it is added to. Prominent characters get the classic
/// `Codename (Real Name)` form; everyone else a wikia-style `Name (Earth-616)` variant.
fn unique_name(
    rng: &mut StdRng,
    index: usize,
    sex: Option<&str>,
    fame: f64,
    names: &mut BTreeSet<String>,
) -> String {
    for _ in 0..32 {
        let name = draw_name(rng, sex, fame);
        if !names.contains(&name) {
            names.insert(name.clone());
            return name;
        }
    }
    // Practically unreachable for sensible row counts; a universe number no draw produces.
    let name = format!(
        "{} (Earth-{})",
        person_name(rng, sex),
        100_000 + index as u64
    );
    names.insert(name.clone());
    name
}

/// One candidate name (possibly taken already).
fn draw_name(rng: &mut StdRng, sex: Option<&str>, fame: f64) -> String {
    if fame > 5.7 && rng.gen_bool(0.8) {
        return format!("{} ({})", codename(rng), person_name(rng, sex));
    }
    match rng.gen_range(0..100u32) {
        0..=64 => format!("{} (Earth-616)", person_name(rng, sex)),
        65..=84 => format!("{} (Earth-616)", codename(rng)),
        85..=89 => format!("{} ({}) (Earth-616)", codename(rng), pick(rng, QUALIFIERS)),
        90..=93 => format!(
            "{} ({}) (Earth-616)",
            person_name(rng, sex),
            pick(rng, QUALIFIERS)
        ),
        94..=96 => {
            let universe = UNIVERSES[rng.gen_range(0..UNIVERSES.len() as u32) as usize];
            format!("{} (Earth-{universe})", person_name(rng, sex))
        }
        97..=98 => format!("{} (Earth-616)", invented_word(rng)),
        _ => invented_word(rng),
    }
}

/// `First Last`, rarely with a comma suffix (`, Jr.`) or a quoted nickname written the way the
/// original file writes it (`Ada \"Ace\" Ashwick`).
fn person_name(rng: &mut StdRng, sex: Option<&str>) -> String {
    let firsts = match sex {
        Some(MALE) => FIRST_MALE,
        Some(FEMALE) => FIRST_FEMALE,
        _ if rng.gen_bool(0.5) => FIRST_MALE,
        _ => FIRST_FEMALE,
    };
    let first = pick_str(rng, firsts);
    let last = join_syllables(pick_str(rng, SURNAME_HEAD), pick_str(rng, SURNAME_TAIL));
    match rng.gen_range(0..10_000u32) {
        0..=19 => format!("{first} {last}, {}", pick_str(rng, SUFFIXES)),
        20..=29 => format!("{first} \\\"{}\\\" {last}", pick_str(rng, NICKNAMES)),
        _ => format!("{first} {last}"),
    }
}

/// A costumed identity: `Crimson Viper`, `Doctor Moth` or `Zorgath`.
fn codename(rng: &mut StdRng) -> String {
    match rng.gen_range(0..10u32) {
        0..=6 => format!(
            "{} {}",
            pick_str(rng, CODE_ADJECTIVE),
            pick_str(rng, CODE_NOUN)
        ),
        7..=8 => format!("{} {}", pick_str(rng, CODE_TITLE), pick_str(rng, CODE_NOUN)),
        _ => invented_word(rng),
    }
}

/// A one-word alien-sounding name such as `Vexulon`.
fn invented_word(rng: &mut StdRng) -> String {
    join_syllables(pick_str(rng, CODE_HEAD), pick_str(rng, CODE_TAIL))
}

/// `head` + `tail`, without doubling a letter at the seam (`Cald` + `dale` = `Caldale`).
fn join_syllables(head: &str, tail: &str) -> String {
    let tail = match (head.chars().last(), tail.chars().next()) {
        (Some(h), Some(t)) if h == t => &tail[t.len_utf8()..],
        _ => tail,
    };
    format!("{head}{tail}")
}

/// The wikia URL slug of a name: `\/` + name with `_` for spaces, `%22` for the (escaped)
/// quotes and UTF-8 percent-encoded, e.g. `\/Crimson_Viper_(Earth-616)`.
fn url_slug(name: &str) -> String {
    let mut slug = String::from("\\/");
    for part in name.replace("\\\"", "\"").chars() {
        match part {
            ' ' => slug.push('_'),
            '"' => slug.push_str("%22"),
            c if c.is_ascii() => slug.push(c),
            c => {
                let mut buf = [0; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    slug.push_str(&format!("%{byte:02X}"));
                }
            }
        }
    }
    slug
}

// ---------------------------------------------------------------------------------------------
// Deterministic sampling helpers.
// ---------------------------------------------------------------------------------------------

/// Index drawn with probability proportional to `weights` (integer arithmetic only).
fn pick_index(rng: &mut StdRng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut ticket = rng.gen_range(0..total);
    for (i, w) in weights.enumerate() {
        if ticket < w {
            return i;
        }
        ticket -= w;
    }
    unreachable!("ticket is below the total weight")
}

/// A value of `table` drawn with probability proportional to its weight.
fn pick(rng: &mut StdRng, table: Table) -> &'static str {
    table[pick_index(rng, table.iter().map(|&(_, w)| w))].0
}

/// A uniformly drawn word of `words`.
fn pick_str(rng: &mut StdRng, words: &[&'static str]) -> &'static str {
    words[rng.gen_range(0..words.len() as u32) as usize]
}

/// An approximately standard normal number (Irwin–Hall: the sum of 12 uniforms, minus 6).
fn normal(rng: &mut StdRng) -> f64 {
    (0..12).map(|_| rng.r#gen::<f64>()).sum::<f64>() - 6.0
}

/// The logistic function.
fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + exp(-x))
}

/// `e^x` with basic IEEE-754 arithmetic only, so it rounds identically on every platform
/// (the platform's libm may differ in the last bit). Accurate to a few ulps on `[-700, 700]`.
fn exp(x: f64) -> f64 {
    let x = x.clamp(-700.0, 700.0);
    let k = (x / LN_2).round();
    let r = x - k * LN_2; // |r| <= ln(2) / 2
    let mut term = 1.0;
    let mut sum = 1.0;
    for i in 1..=18 {
        term = term * r / f64::from(i);
        sum += term;
    }
    // 2^k built from its bit pattern; |k| <= 1010 keeps it a normal number.
    let two_k = f64::from_bits(((k as i64 + 1023) as u64) << 52);
    sum * two_k
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL_HEADER: &str =
        "page_id,name,urlslug,ID,ALIGN,EYE,HAIR,SEX,GSM,ALIVE,APPEARANCES,FIRST APPEARANCE,Year";

    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).expect("demo CSV is UTF-8")
    }

    #[test]
    fn same_seed_gives_identical_bytes() {
        assert_eq!(generate(DEMO_SEED, 2_000), generate(DEMO_SEED, 2_000));
    }

    #[test]
    fn different_seeds_give_different_output() {
        assert_ne!(generate(1, 500), generate(2, 500));
    }

    #[test]
    fn header_equals_the_real_files_header() {
        let csv = generate(DEMO_SEED, 10);
        let header = text(&csv).lines().next().unwrap();
        assert_eq!(header, REAL_HEADER);
        assert_eq!(header, COLUMNS.join(","));
        // Cross-check against the real file when the shared data is checked out next to us.
        let real =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/marvel-wikia-data.csv");
        if let Ok(real) = std::fs::read_to_string(real) {
            assert_eq!(header, real.lines().next().unwrap());
        }
    }

    #[test]
    fn row_count_line_endings_and_field_count() {
        let csv = generate(7, 1_234);
        assert!(csv.ends_with(b"\n"));
        assert!(!csv.contains(&b'\r'));
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        assert_eq!(records.len(), 1_234);
        assert!(records.iter().all(|r| r.len() == COLUMNS.len()));
        assert_eq!(generate(7, 0), format!("{REAL_HEADER}\n").into_bytes());
    }

    #[test]
    fn values_look_like_the_real_file() {
        let csv = generate(DEMO_SEED, DEMO_ROWS);
        let mut reader = csv::Reader::from_reader(csv.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
        let ids: BTreeSet<&str> = records.iter().map(|r| &r[0]).collect();
        let names: BTreeSet<&str> = records.iter().map(|r| &r[1]).collect();
        assert_eq!(ids.len(), records.len(), "page ids are unique");
        assert_eq!(names.len(), records.len(), "names are unique");
        assert!(names.iter().any(|n| n.contains(',')));
        assert!(names.iter().any(|n| n.contains('"')));
        let mut previous = u32::MAX;
        for r in &records {
            assert!(r[0].parse::<u64>().is_ok());
            assert!(r[2].starts_with("\\/") && !r[2].contains(' '));
            assert!(["", LIVING, DECEASED].contains(&&r[9]));
            // Sorted by appearances, descending, empty last.
            let appearances = if r[10].is_empty() {
                0
            } else {
                r[10].parse().unwrap()
            };
            assert!(appearances <= previous);
            previous = appearances;
            // The debut month-year agrees with the year.
            assert_eq!(r[11].is_empty(), r[12].is_empty());
            if !r[12].is_empty() {
                let year: u32 = r[12].parse().unwrap();
                assert!((1939..=2013).contains(&year));
                assert_eq!(&r[11][3..], format!("-{:02}", year % 100));
            }
        }
        let living = records.iter().filter(|r| &r[9] == LIVING).count() as f64;
        let share = living / records.len() as f64;
        assert!((0.73..0.81).contains(&share), "living share {share}");
    }

    #[test]
    fn slugs_escape_quotes_and_unicode() {
        assert_eq!(
            url_slug("Crimson Viper (Earth-616)"),
            "\\/Crimson_Viper_(Earth-616)"
        );
        assert_eq!(
            url_slug("Ada \\\"Ace\\\" Ashwick, Jr."),
            "\\/Ada_%22Ace%22_Ashwick,_Jr."
        );
        assert_eq!(url_slug("Inés Fenby"), "\\/In%C3%A9s_Fenby");
    }

    #[test]
    fn exp_matches_std_closely() {
        for i in -200..=200 {
            let x = f64::from(i) * 0.05;
            let (ours, std) = (exp(x), x.exp());
            assert!(
                ((ours - std) / std).abs() < 1e-14,
                "exp({x}): {ours} vs {std}"
            );
        }
    }

    #[test]
    fn write_demo_writes_the_demo_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/demo.csv");
        write_demo(&path).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            generate(DEMO_SEED, DEMO_ROWS)
        );
        let leftovers = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
    }
}
