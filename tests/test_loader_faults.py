"""Faults a real download or export has: files cut short, lines broken in the middle, values outside
what the release documents. Each case names what the loader must answer; every count is worked out
from the lines written here."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest

from recnb.data.loaders import (
    load_movielens,
    load_online_retail,
    load_rees46,
    load_retailrocket,
    load_taobao,
)

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def notes(ds) -> dict[str, int]:
    return {n["step"]: n["rows"] for n in ds.notes}


def reason(ds, step: str) -> str:
    return next(n["reason"] for n in ds.notes if n["step"] == step)


def retail_lines(n: int, fmt: str = "%Y-%m-%d %H:%M:%S", start: str = "2010-12-01 08:26") -> list:
    t0 = pd.Timestamp(start)
    return [
        f"{536365 + i},85123A,WHITE HANGING HEART T-LIGHT HOLDER,{i % 7 + 1},"
        f"{(t0 + pd.Timedelta(days=i % 28, minutes=i)).strftime(fmt)},2.55,{17850 + i % 5},"
        "United Kingdom"
        for i in range(n)
    ]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


# ----------------------------------------------------------------------------------------------
# files cut short at their end (an interrupted download)
# ----------------------------------------------------------------------------------------------


def test_csv_whose_last_line_is_cut_drops_it_and_says_which_line(tmp_path):
    text = "\n".join([HEADER, *retail_lines(6)]) + "\n"
    f = write(tmp_path / "online_retail.csv", text[:-40])  # cut inside the 6th data line
    ds = load_online_retail(f)
    assert notes(ds)["last line cut short"] == 1
    assert notes(ds)["read"] == 5
    assert "line 7" in reason(ds, "last line cut short")  # header is line 1
    assert "536370,85123A" in reason(ds, "last line cut short")
    assert len(ds.events) == 5


@pytest.mark.parametrize("fraction", [0.35, 0.5, 0.62, 0.8, 0.97])
def test_gzip_cut_short_reads_every_complete_line_and_no_more(tmp_path, fraction):
    text = "\n".join([HEADER, *retail_lines(3000)]) + "\n"
    packed = gzip.compress(text.encode())
    f = write(tmp_path / "online_retail.csv.gz", packed[: int(len(packed) * fraction)])
    ds = load_online_retail(f)  # raw pandas ends in EOFError here
    import zlib

    prefix = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(
        packed[: int(len(packed) * fraction)]
    )
    complete = prefix.count(b"\n")  # header + data lines that end with a line break
    assert notes(ds)["read"] == complete - 1
    assert notes(ds)["file cut short"] == (0 if prefix.endswith(b"\n") else 1)
    r = reason(ds, "file cut short")
    assert "gzip stream ends before its end marker" in r
    if not prefix.endswith(b"\n"):
        assert f"broken last line {complete + 1}" in r
    # the loaded lines are exactly the file's first lines
    assert ds.events["session_id"].tolist() == [str(536365 + i) for i in range(complete - 1)]


def test_movielens_last_line_cut_inside_the_timestamp_is_not_read_as_1970(tmp_path):
    d = tmp_path / "ml-latest-small"
    write(
        d / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Crime\n",
    )
    write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2,3.5,9649")
    ds = load_movielens(d)
    assert len(ds.events) == 1
    assert ds.events["timestamp"].min() > pd.Timestamp("2000-01-01")
    assert "line 3 ('1,2,3.5,9649')" in reason(ds, "last line cut short")


def test_movielens_100k_file_cut_short(tmp_path):
    d = tmp_path / "ml-100k"
    write(d / "u.data", "1\t1\t5\t874965758\n2\t1\t4\t874965759\n3\t1")
    flags = "|".join(["0"] * 18 + ["1"])
    write(d / "u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n")
    ds = load_movielens(d)
    assert notes(ds)["last line cut short"] == 1 and len(ds.events) == 2
    assert "u.data: line 3 ('3\\t1')" in reason(ds, "last line cut short")


def test_taobao_gzip_and_retailrocket_csv_cut_short(tmp_path):
    start = int((pd.Timestamp("2017-11-26") - pd.Timedelta(hours=8)).timestamp())
    rows = "".join(f"{u},{u * 10},5,pv,{start + u}\n" for u in range(1, 4000)).encode()
    packed = gzip.compress(rows)
    tb = load_taobao(write(tmp_path / "taobao" / "UserBehavior.csv.gz", packed[: len(packed) // 3]))
    assert 0 < len(tb.events) < 3999 and "file cut short" in notes(tb)

    rr = tmp_path / "retailrocket"
    write(
        rr / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n1433224214164,992329,view,2486",
    )
    ds = load_retailrocket(rr, item_properties=False)
    assert len(ds.events) == 1 and notes(ds)["last line cut short"] == 1


def test_rees46_gzip_month_cut_short(tmp_path):
    header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session"
    lines = [
        f"2019-10-01 00:00:{i % 60:02d} UTC,view,{1000 + i % 50},2053013555631882655,"
        f"electronics.smartphone,samsung,{100 + i % 9}.50,{5000 + i % 70},s{i % 90}"
        for i in range(2000)
    ]
    packed = gzip.compress(("\n".join([header, *lines]) + "\n").encode())
    ds = load_rees46(write(tmp_path / "rees46" / "2019-Oct.csv.gz", packed[: len(packed) // 2]))
    assert 0 < notes(ds)["read"] < 2000 and "file cut short" in notes(ds)


# ----------------------------------------------------------------------------------------------
# files broken in the middle: stop, naming the file and the line
# ----------------------------------------------------------------------------------------------


def test_extra_field_in_a_middle_line_stops_with_its_line(tmp_path):
    lines = [HEADER, *retail_lines(6)]
    lines[3] += ",EXTRA"
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"online_retail.csv: line 4 has 9 fields where 8 are"):
        load_online_retail(f)


def test_short_middle_line_stops_with_its_line_not_a_missing_value(tmp_path):
    lines = [HEADER, *retail_lines(6)]
    lines[3] = lines[3][:30]  # "536367,85123A,WHITE HANGING HE": 3 fields
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"online_retail.csv: line 4 has 3 fields where 8 are"):
        load_online_retail(f)
    d = tmp_path / "ml-latest-small"
    write(d / "movies.csv", "movieId,title,genres\n1,Toy Story (1995),Animation\n")
    write(d / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,2\n2,1,3.5,1\n")
    with pytest.raises(ValueError, match=r"ratings.csv: line 3 has 2 fields where 4 are"):
        load_movielens(d)


def test_damaged_gzip_data_stops_naming_the_file_and_a_line(tmp_path):
    text = "\n".join([HEADER, *retail_lines(3000)]) + "\n"
    packed = gzip.compress(text.encode())
    # a wrong checksum at the end: every byte decompresses, the check fails
    f = write(tmp_path / "crc.csv.gz", packed[:-8] + bytes(4) + packed[-4:])
    with pytest.raises(ValueError, match=r"crc.csv.gz: the gzip data is damaged after line 3001"):
        load_online_retail(f)
    # scrambled bytes in the middle: garbage lines or a deflate error, either named with a line
    broken = bytearray(packed)
    mid = len(broken) // 2
    broken[mid : mid + 64] = b"\xff" * 64
    f = write(tmp_path / "mid.csv.gz", bytes(broken))
    with pytest.raises(
        ValueError,
        match=r"mid.csv.gz: (line \d+ has \d+ fields|the gzip data is damaged after line \d+)",
    ):
        load_online_retail(f)


def test_bad_value_in_a_typed_column_names_line_column_and_value(tmp_path):
    rr = tmp_path / "retailrocket"
    write(
        rr / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n1433224214164,abc,view,2486,\n",
    )
    with pytest.raises(
        ValueError,
        match=r"events.csv: line 3, column 'visitorid': not a whole number \(value 'abc'\)",
    ):
        load_retailrocket(rr, item_properties=False)


def test_csvfile_check_policy_keeps_a_complete_unterminated_line_only(tmp_path):
    from recnb.data.loaders import CsvFile

    f = write(tmp_path / "a.csv", "a,b,c\n1,2,3\n4,5,6")
    log_rows = []

    class Log:
        def add(self, step, rows, reason, removes=False):
            log_rows.append((step, rows, reason))

    df = CsvFile(f, last_line="check", dtype={"a": "int64", "c": "int64"}).read(Log())
    assert df["a"].tolist() == [1, 4]
    assert log_rows[0][0] == "last line without line break" and "line 3" in log_rows[0][2]
    for broken in ("a,b,c\n1,2,3\n4,5", "a,b,c\n1,2,3\n4,5,x", 'a,b,c\n1,2,3\n4,"5'):
        write(f, broken)
        log_rows.clear()
        df = CsvFile(f, last_line="check", dtype={"a": "int64", "c": "int64"}).read(Log())
        assert df["a"].tolist() == [1], broken
        assert log_rows[0][:2] == ("last line cut short", 1)
    write(f, "a,b,c\n1,2,3\n4,5,6")
    assert CsvFile(f).read()["a"].tolist() == [1]  # the default: official files end with a break


def test_line_numbers_count_physical_lines(tmp_path):
    from recnb.data.loaders import CsvFile

    f = write(tmp_path / "q.csv", 'a,b\n1,"two\nlines"\n\n3,x\n4,y\n')
    reader = CsvFile(f)
    assert len(reader.read()) == 3
    assert reader.lines_of([0, 1, 2]) == {0: 3, 1: 5, 2: 6}


# ----------------------------------------------------------------------------------------------
# Online Retail dates
# ----------------------------------------------------------------------------------------------


def test_bad_date_is_reported_at_its_own_line_and_value(tmp_path):
    lines = [HEADER, *retail_lines(8, fmt="%m/%d/%Y %H:%M", start="2010-12-10 08:26")]
    lines[5] = lines[5].replace("12/14/2010", "12/41/2010")
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(
        ValueError, match=r"'InvoiceDate' value '12/41/2010 08:30' at line 6 is not a date"
    ):
        load_online_retail(f)


def test_day_first_dates_with_no_day_above_12_are_refused_unless_named(tmp_path):
    lines = [HEADER, *retail_lines(6, fmt="%d/%m/%Y %H:%M", start="2010-12-01 08:26")]
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(
        ValueError, match=r"'InvoiceDate' is ambiguous.*date_format: '%d/%m/%Y %H:%M'"
    ):
        load_online_retail(f)
    ds = load_online_retail(f, date_format="%d/%m/%Y %H:%M")
    assert ds.events["timestamp"].min() == pd.Timestamp("2010-12-01 08:26")
    assert ds.events["timestamp"].max() == pd.Timestamp("2010-12-06 08:31")
    assert ds.meta["date_format"] == "%d/%m/%Y %H:%M"
    with pytest.raises(ValueError, match=r"value '01/12/2010 08:26' at line 2 does not match"):
        load_online_retail(f, date_format="%Y-%m-%d %H:%M")
    with pytest.raises(ValueError, match=r"date_format='dd/mm' is not a strftime form"):
        load_online_retail(f, date_format="dd/mm")


def test_day_first_dates_are_read_day_first_when_a_day_says_so(tmp_path):
    lines = [HEADER, *retail_lines(20, fmt="%d/%m/%Y %H:%M", start="2010-12-01 08:26")]
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    ds = load_online_retail(f)
    assert ds.events["timestamp"].min() == pd.Timestamp("2010-12-01 08:26")
    assert ds.events["timestamp"].max() == pd.Timestamp("2010-12-20 08:45")
    assert "day first" in reason(ds, "date format")
    assert "'13/12/2010 08:38' at line 14" in reason(ds, "date format")


# ----------------------------------------------------------------------------------------------
# nothing left: say what the file held and what was removed
# ----------------------------------------------------------------------------------------------


def test_only_cancellations_says_what_the_file_held(tmp_path):
    lines = [HEADER] + [
        line.replace("5363", "C5363", 1).replace("HOLDER,", "HOLDER,-", 1)
        for line in retail_lines(5)
    ]
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_online_retail(f, returns="drop")
    msg = str(err.value)
    assert "no events left after loading" in msg and "online_retail.csv" in msg
    assert "5 invoice line(s): 5 cancellation(s)" in msg
    assert "returns dropped: 5" in msg and "table is empty" not in msg


def test_only_negative_quantities_says_what_was_removed(tmp_path):
    lines = [HEADER] + [line.replace("HOLDER,", "HOLDER,-", 1) for line in retail_lines(4)]
    f = write(tmp_path / "online_retail.csv", "\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_online_retail(f)
    msg = str(err.value)
    assert "0 cancellation(s) (InvoiceNo 'C...'), 4 with a negative Quantity" in msg
    assert "quantity sign: 4" in msg


# ----------------------------------------------------------------------------------------------
# MovieLens values outside the release
# ----------------------------------------------------------------------------------------------


def ml_csv(d: Path, ratings: str) -> Path:
    write(
        d / "movies.csv",
        "movieId,title,genres\n1,Toy Story (1995),Animation\n2,Heat (1995),Crime\n",
    )
    write(d / "ratings.csv", "userId,movieId,rating,timestamp\n" + ratings)
    return d


@pytest.mark.parametrize("value", ["11", "3.7", "0.0", "-1", "inf", "nan"])
def test_rating_outside_the_half_star_scale_is_rejected(tmp_path, value):
    d = ml_csv(tmp_path / "ml-latest-small", f"1,1,4.0,964982703\n1,2,{value},964982704\n")
    what = "is empty.*line 3" if value == "nan" else "line 3.*outside the release's rating scale"
    with pytest.raises(ValueError, match=rf"ratings.csv: column 'rating'.*{what}"):
        load_movielens(d)


def test_whole_star_releases_reject_half_stars_and_zero(tmp_path):
    flags = "|".join(["0"] * 18 + ["1"])
    d = tmp_path / "ml-100k"
    write(d / "u.item", f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n")
    for bad in ("4.5", "0", "6"):
        write(d / "u.data", f"1\t1\t5\t874965758\n2\t1\t{bad}\t874965759\n")
        with pytest.raises(
            ValueError,
            match=r"u.data: column 'rating' value .* at line 2 .*whole stars from 1 to 5",
        ):
            load_movielens(d)
    m = tmp_path / "ml-1m"
    write(m / "ratings.dat", "1::1::5::978300760\n1::1::3.5::978300761\n")
    write(m / "users.dat", "1::F::1::10::48067\n")
    write(m / "movies.dat", "1::Toy Story (1995)::Animation\n")
    with pytest.raises(ValueError, match=r"ratings.dat: column 'Rating' value 3.5 at line 2"):
        load_movielens(m)
    # ML-10M has half stars and no users.dat: the same line is fine there
    (m / "users.dat").unlink()
    assert load_movielens(m).events["value"].tolist() == [5.0, 3.5]


def test_millisecond_timestamps_are_named_as_such(tmp_path):
    d = ml_csv(tmp_path / "ml-latest-small", "1,1,4.0,964982703000\n1,2,3.5,964982704000\n")
    with pytest.raises(
        ValueError,
        match=r"ratings.csv: column 'timestamp' value 964982703000 at line 2 is not a date in "
        r"epoch seconds \(it looks like epoch milliseconds\); 2 such",
    ):
        load_movielens(d)


@pytest.mark.parametrize(
    "column, row",
    [("userId", "99999999999999999999999,2"), ("movieId", "1,99999999999999999999999")],
)
def test_huge_ids_name_file_line_and_column(tmp_path, column, row):
    d = ml_csv(tmp_path / "ml-latest-small", f"1,1,4.0,964982703\n{row},3.5,964982704\n")
    with pytest.raises(
        ValueError, match=rf"ratings.csv: line 3, column '{column}': too large for a 64-bit"
    ):
        load_movielens(d)


def test_ratings_for_unknown_movies_are_named(tmp_path):
    d = ml_csv(
        tmp_path / "ml-latest-small", "1,1,4.0,964982703\n1,7,3.5,964982704\n2,7,3.0,964982705\n"
    )
    ds = load_movielens(d)
    assert notes(ds)["unknown movie"] == 2
    assert "movieId is missing from movies.csv" in reason(ds, "unknown movie")
    assert "e.g. 7 at ratings.csv line 3" in reason(ds, "unknown movie")
    ml_csv(d, "1,7,4.0,964982703\n1,8,3.5,964982704\n")
    with pytest.raises(
        ValueError, match=r"movielens: no events left.*2 ratings, none of them for a movie"
    ):
        load_movielens(d)


# ----------------------------------------------------------------------------------------------
# options checked before loading
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, options, match",
    [
        ("online_retail", {"retuns": "drop"}, r"x.yaml: data.options.retuns: unknown option for data.source 'online_retail'; allowed options are \['returns'"),
        ("online_retail", {"returns": "net"}, r"data.options.returns: 'net' is not allowed"),
        ("online_retail", {"upper_codes": "yes"}, r"data.options.upper_codes: must be true or false"),
        ("online_retail", {"date_format": "dd/mm/yyyy"}, r"data.options.date_format: must be a strftime"),
        ("movielens", {"variant": "ml-2m"}, r"data.options.variant: 'ml-2m' is not allowed"),
        ("movielens", {"nrows": -5}, r"data.options.nrows: nrows must be a positive integer"),
        ("taobao", {"months": ["2019-Oct"]}, r"data.options.months: unknown option for data.source 'taobao'"),
        ("rees46", {"months": "2019-Oct"}, r"data.options.months: must be a list"),
        ("retailrocket", {"item_properties": 1}, r"data.options.item_properties: must be true or false"),
    ],
)  # fmt: skip
def test_options_are_checked_for_every_source(source, options, match):
    from recnb.data.loaders import check_options

    with pytest.raises(ValueError, match=match):
        check_options(source, options, None, "x.yaml: data.options")


def test_run_stops_on_a_bad_option_before_any_stage(tmp_path, monkeypatch):
    from recnb.workflow.params import load_params
    from recnb.workflow.runner import preflight

    folder = tmp_path / "online-retail"
    write(folder / "online_retail.csv", "\n".join([HEADER, *retail_lines(3)]) + "\n")
    params = tmp_path / "p.yaml"
    params.write_text(
        json.dumps(
            {
                "run_name": "t",
                "data": {
                    "source": "online_retail",
                    "path": str(folder),
                    "options": {"returns": "keep", "netting": True},
                },
                "stages": ["01_data_understanding"],
            }  # fmt: skip
        )
    )
    monkeypatch.setenv("RECNB_PSEUDONYM_KEY", "k" * 32)
    with pytest.raises(ValueError, match=rf"{params}: data.options.netting: unknown option"):
        preflight(load_params(params))
